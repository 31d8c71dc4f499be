// Validates every ServiceMonitor in the rendered manifests given as arguments against the
// prometheus-operator models (kubernetes-validate skips CRDs), and proves the check can fail by
// validating a deliberately broken copy.
import { readFileSync } from "node:fs";
import { loadAll } from "js-yaml";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of loadAll(readFileSync(file, "utf8"))) {
    if (!doc || doc.kind !== "ServiceMonitor") continue;
    new ServiceMonitor(doc).validate();
    const broken = structuredClone(doc);
    broken.spec.endpoints[0].interval = 30; // a number where the CRD wants a duration string
    let caught = false;
    try {
      new ServiceMonitor(broken).validate();
    } catch {
      caught = true;
    }
    if (!caught) throw new Error(`${file}: a broken ServiceMonitor passed validation`);
    checked += 1;
    console.log(`${file}: ServiceMonitor ${doc.metadata.namespace}/${doc.metadata.name} valid`);
  }
}
if (checked === 0) throw new Error("no ServiceMonitor found in " + process.argv.slice(2).join(" "));
