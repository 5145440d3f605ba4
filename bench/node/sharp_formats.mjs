// sharp making a set of formats at each width, as its documentation shows (one pipeline
// per width, clone() per format), timed like bench/formats.py's project contenders:
//   node sharp_formats.mjs IMAGE WIDTHS OPTIONS_JSON RUNS
// OPTIONS_JSON maps each format to its sharp options, e.g. {"jpeg":{"quality":80},"webp":{},
// "avif":{"effort":2}}. Prints {"cpu_ms": [...], "bytes": n} after one untimed warm-up.
import { readFileSync } from "node:fs";
import sharp from "sharp";

const [image, widthList, optionsJson, runList] = process.argv.slice(2);
const widths = widthList.split(",").map(Number);
const options = JSON.parse(optionsJson);
const runs = Number(runList);
const data = readFileSync(image);
if (process.env.BENCH_ONE_CORE === "1") sharp.concurrency(1);
sharp.cache(false);

const run = () =>
  Promise.all(
    widths.flatMap((width) => {
      const sized = sharp(data).rotate().resize({ width, withoutEnlargement: true });
      return Object.entries(options).map(([format, settings]) =>
        sized.clone().toFormat(format, settings).toBuffer(),
      );
    }),
  );

await run();
const cpu = [];
let outputs;
for (let i = 0; i < runs; i++) {
  const start = process.cpuUsage();
  outputs = await run();
  const used = process.cpuUsage(start);
  cpu.push((used.user + used.system) / 1000);
}
const bytes = outputs.reduce((sum, buffer) => sum + buffer.length, 0);
process.stdout.write(JSON.stringify({ cpu_ms: cpu, bytes }));
