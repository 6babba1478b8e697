// Debian's chromium driven by playwright-core, plus in-page probes the browser tests share.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Locator } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const ARTIFACTS_DIR = join(import.meta.dir, "..", "browser", "artifacts");

/** The flags the issue names; chromium missing fails loudly (CI installs it, see .ci/run). */
export async function launchChromium(): Promise<Browser & AsyncDisposable> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`chromium not found at ${CHROMIUM_PATH}: install it (apt-get install chromium) or set CHROMIUM_PATH`);
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}

export function artifactPath(name: string): string {
  return join(ARTIFACTS_DIR, name);
}

/** Just the canvas API the probes use; the test project has no DOM library (it would clash with Bun's types). */
type CanvasLike = {
  width: number;
  height: number;
  getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
  toDataURL(): string;
};

/**
 * Pixels drawn in one of the given colours (the charts' line colours), as opposed to the axes and grid
 * Chart.js draws even with no data. Only the top 70 % of the canvas counts: the legend at the bottom shows
 * the same colours whether or not there is data. Colours are "#rrggbb", matched within a small tolerance.
 */
export async function countPixelsInColours(canvas: Locator, colours: string[]): Promise<number> {
  const rgb = colours.map((hex) => [1, 3, 5].map((offset) => Number.parseInt(hex.slice(offset, offset + 2), 16)));
  return canvas.evaluate((element, wanted) => {
    const target = element as unknown as CanvasLike;
    const context = target.getContext("2d");
    if (!context) return 0;
    const { data } = context.getImageData(0, 0, target.width, Math.floor(target.height * 0.7));
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i]!, data[i + 1]!, data[i + 2]!, data[i + 3]!];
      if (a > 200 && wanted.some(([wr, wg, wb]) => Math.abs(r - wr!) + Math.abs(g - wg!) + Math.abs(b - wb!) < 12)) count++;
    }
    return count;
  }, rgb);
}

/** The canvas as a PNG data URL: two different values mean the chart was redrawn with different data. */
export function canvasImage(canvas: Locator): Promise<string> {
  return canvas.evaluate((element) => (element as unknown as CanvasLike).toDataURL());
}
