/**
 * The web dashboard: a static page (api/dashboard/public: HTML, CSS, ES modules; no build step, no CDN) served
 * at `/`, its files under `/assets/`, and Chart.js from node_modules at `/assets/chart.js`. Every number on the
 * page comes from the JSON API with the bearer token the user typed in (kept in localStorage).
 *
 * `mountDashboard(app)` must run before the app's 404 handler (createApp calls it).
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';

const require = createRequire(import.meta.url);

export const DASHBOARD_DIR = fileURLToPath(new URL('./public/', import.meta.url));
/** Chart.js's UMD build (defines `window.Chart`); chart.js resolves to dist/chart.cjs. */
export const CHART_JS_FILE = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.js');

/**
 * The page's own policy (the API's default is `default-src 'none'`): its scripts, styles and API calls come
 * from this origin only; no inline script, no eval.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

function pageHeaders(res: Response, route: string): void {
  res.locals.route = route;
  res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
  // Revalidate every time: a new deployment is picked up on the next load (ETag / Last-Modified keep it cheap).
  res.setHeader('Cache-Control', 'no-cache');
}

export function mountDashboard(app: express.Express): void {
  const sendPage = (_req: Request, res: Response, next: NextFunction) => {
    pageHeaders(res, '/');
    res.sendFile(path.join(DASHBOARD_DIR, 'index.html'), (err) => (err ? next(err) : undefined));
  };
  app.get('/', sendPage);
  app.get('/index.html', sendPage);

  app.get('/assets/chart.js', (_req: Request, res: Response, next: NextFunction) => {
    pageHeaders(res, '/assets/chart.js');
    res.type('text/javascript');
    res.sendFile(CHART_JS_FILE, (err) => (err ? next(err) : undefined));
  });

  app.use('/assets', (_req: Request, res: Response, next: NextFunction) => {
    pageHeaders(res, '/assets');
    next();
  }, express.static(DASHBOARD_DIR, { index: false, fallthrough: true, dotfiles: 'ignore', redirect: false, cacheControl: false }));
}
