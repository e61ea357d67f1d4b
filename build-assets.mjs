// Copies the pinned front-end packages into app/static/vendor (not committed).
import { copyFileSync, mkdirSync } from "node:fs";

const out = "app/static/vendor";
mkdirSync(`${out}/swagger-ui`, { recursive: true });
for (const [from, to] of [
  ["node_modules/htmx.org/dist/htmx.min.js", "htmx.min.js"],
  ["node_modules/htmx-ext-sse/dist/sse.min.js", "sse.min.js"],
  ["node_modules/@picocss/pico/css/pico.min.css", "pico.min.css"],
  // Charts (app/static/charts.js): uPlot, small and drawn on a canvas, with no inline style or eval.
  ["node_modules/uplot/dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["node_modules/uplot/dist/uPlot.min.css", "uPlot.min.css"],
  // The API reference page (/account/api-reference).
  ["node_modules/swagger-ui-dist/swagger-ui-bundle.js", "swagger-ui/swagger-ui-bundle.js"],
  ["node_modules/swagger-ui-dist/swagger-ui.css", "swagger-ui/swagger-ui.css"],
]) {
  copyFileSync(from, `${out}/${to}`);
}
console.log(`assets copied to ${out}`);
