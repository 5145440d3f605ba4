// sharp's usual pipeline, one resize per width, timed like bench/workers.py:
//   node sharp_worker.mjs IMAGE OUT_DIR WIDTHS RUNS
// Prints {"wall_ms": [...], "cpu_ms": [...], "peak_rss_mb": n} after one untimed warm-up.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";

const [image, out, widthList, runList] = process.argv.slice(2);
const widths = widthList.split(",").map(Number);
const runs = Number(runList);
const data = readFileSync(image);
if (process.env.BENCH_ONE_CORE === "1") sharp.concurrency(1);
sharp.cache(false);

const run = () =>
  Promise.all(
    widths.map((width) =>
      sharp(data)
        .rotate()
        .resize({ width, withoutEnlargement: true })
        .jpeg({ quality: 80 })
        .toBuffer(),
    ),
  );

await run();
const wall = [];
const cpu = [];
let outputs;
for (let i = 0; i < runs; i++) {
  const startWall = process.hrtime.bigint();
  const startCpu = process.cpuUsage();
  outputs = await run();
  const used = process.cpuUsage(startCpu);
  wall.push(Number(process.hrtime.bigint() - startWall) / 1e6);
  cpu.push((used.user + used.system) / 1000);
}
mkdirSync(out, { recursive: true });
widths.forEach((width, i) => writeFileSync(join(out, `${width}.jpg`), outputs[i]));
// VmHWM, not maxRSS: Linux carries ru_maxrss over from the parent across exec.
const hwm = readFileSync("/proc/self/status", "utf8").match(/VmHWM:\s+(\d+)/);
process.stdout.write(JSON.stringify({ wall_ms: wall, cpu_ms: cpu, peak_rss_mb: Number(hwm[1]) / 1024 }));
