// Tiny DOM helpers: elements are always built with textContent / attributes (never innerHTML), so values from
// the API can't inject markup.

/**
 * @param {string} tag
 * @param {Record<string, string|number|boolean|null|undefined>} [attrs]
 * @param {...(Node|string|number|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false || c === '') continue;
    node.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
  return node;
}

/** @param {Element} node */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** @param {string} id @returns {HTMLElement} */
export function $(id) {
  const n = document.getElementById(id);
  if (!n) throw new Error(`#${id} is missing from the page`);
  return n;
}

/**
 * Shows or hides a message element.
 * @param {HTMLElement} node @param {string|null|undefined} text
 */
export function message(node, text) {
  node.textContent = text ?? '';
  node.hidden = !text;
}
