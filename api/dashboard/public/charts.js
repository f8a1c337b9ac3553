// Chart.js (window.Chart, the UMD build served at /assets/chart.js) behind a few helpers: one chart per canvas,
// updated in place when the data changes.

/** @type {any} */
const Chart = /** @type {any} */ (window).Chart;

export const COLORS = {
  samples: '#2563eb',
  tests: '#7c3aed',
  reported: '#059669',
  tat: '#0284c7',
  movingAverage: '#d97706',
  sla: '#dc2626',
  within: '#059669',
  beyond: '#dc2626',
  near: '#d97706',
  grid: '#e5e7eb',
  text: '#374151',
};

/** @type {Record<string, string>} */
const STATE_COLORS = {
  REPORTED: '#059669',
  COMPLETED: '#14b8a6',
  'IN PROGRESS': '#2563eb',
  'NOT STARTED': '#94a3b8',
  'ON HOLD': '#d97706',
  'NOT REPORTABLE': '#7c3aed',
  CANCELLED: '#dc2626',
  'CLIENT CANCELLED': '#991b1b',
  UNKNOWN: '#cbd5e1',
};
const EXTRA = ['#0891b2', '#be185d', '#65a30d', '#4f46e5', '#ea580c', '#0f766e', '#a21caf', '#57534e'];

/** @param {string} state @param {number} i */
export const stateColor = (state, i) => STATE_COLORS[state] ?? EXTRA[i % EXTRA.length];

/** @param {string} hex @param {number} alpha */
export function alpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

export function chartsAvailable() {
  return typeof Chart === 'function';
}

if (chartsAvailable()) {
  Chart.defaults.font.family = getComputedStyle(document.documentElement).getPropertyValue('--font').trim() || 'system-ui, sans-serif';
  Chart.defaults.font.size = 12;
  Chart.defaults.color = COLORS.text;
  Chart.defaults.borderColor = COLORS.grid;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.responsive = true;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;
  Chart.defaults.plugins.legend.labels.boxHeight = 12;
  if (window.matchMedia?.('(prefers-reduced-motion: reduce)').matches) Chart.defaults.animation = false;
  else Chart.defaults.animation.duration = 250;
}

// Chart.js follows its container with a ResizeObserver; when the layout jumps (rotation, a window snapped from
// wide to narrow, the grid going from two columns to one) an observer callback can be skipped and a canvas
// keeps its old width. A resize of the window re-measures every chart once per frame.
let resizeFrame = 0;
window.addEventListener('resize', () => {
  if (!chartsAvailable() || resizeFrame) return;
  resizeFrame = requestAnimationFrame(() => {
    resizeFrame = 0;
    for (const canvas of document.querySelectorAll('canvas')) Chart.getChart(canvas)?.resize();
  });
});

/**
 * Draws or updates the chart on a canvas. The config's type must not change between calls (it is recreated
 * if it does).
 * @param {string} canvasId
 * @param {{ type: string, data: any, options?: any }} config
 * @param {string} [summary] text for the canvas's aria-label
 */
export function draw(canvasId, config, summary) {
  const canvas = /** @type {HTMLCanvasElement|null} */ (document.getElementById(canvasId));
  if (!canvas || !chartsAvailable()) return undefined;
  if (summary) canvas.setAttribute('aria-label', summary);
  const existing = Chart.getChart(canvas);
  if (existing && existing.config.type === config.type) {
    existing.data = config.data;
    existing.options = config.options ?? {};
    existing.update();
    return existing;
  }
  existing?.destroy();
  return new Chart(canvas, config);
}

/** Common options for a category x axis and a linear y axis starting at 0. @param {{ yTitle?: string, stacked?: boolean, horizontal?: boolean, legend?: boolean }} o */
export function axes(o = {}) {
  const value = { beginAtZero: true, stacked: o.stacked, title: o.yTitle ? { display: true, text: o.yTitle } : undefined, ticks: { precision: 0 } };
  const category = { stacked: o.stacked, grid: { display: false } };
  return {
    indexAxis: o.horizontal ? 'y' : 'x',
    interaction: { mode: 'index', intersect: false },
    plugins: { legend: { display: o.legend !== false, position: 'bottom' } },
    scales: o.horizontal ? { x: value, y: category } : { x: category, y: value },
  };
}
