// Type-checks every dashboards/*.json against @grafana/schema's `Dashboard`: each file is embedded as an
// object literal typed as the schema (so misspelt keys, wrong types and legacy shapes are errors), with the
// schema's string enums loosened to string (JSON cannot name a TypeScript enum). Run: `npm run check`.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const boards = path.join(here, "..");
const files = readdirSync(boards).filter((f) => f.endsWith(".json")).sort();
if (files.length === 0) throw new Error("no dashboards found");

let source = `import type { Dashboard } from "@grafana/schema";
type Loose<T> = T extends string ? string
  : T extends number ? number
  : T extends boolean ? boolean
  : T extends Array<infer U> ? Array<Loose<U>>
  : T extends object ? { [K in keyof T]: Loose<T[K]> }
  : T;
`;
files.forEach((file, i) => {
  const json = readFileSync(path.join(boards, file), "utf8");
  JSON.parse(json); // a syntax error names the file here rather than in tsc's output
  source += `// ${file}\nexport const dashboard${i}: Loose<Dashboard> = ${json};\n`;
});
const generated = path.join(here, "generated.ts");
writeFileSync(generated, source);
const tsc = path.join(here, "node_modules", "typescript", "bin", "tsc");
execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck", "--target", "es2022",
  "--moduleResolution", "bundler", "--module", "esnext", generated], { stdio: "inherit" });
console.log(`dashboards type-check against @grafana/schema: ${files.join(", ")}`);
