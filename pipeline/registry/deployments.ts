import { withRegistryLock } from "./lock.js";
import { DeploymentSchema, type Deployment, type Registry } from "./schema.js";
import { readRegistry, recordDeployment as addDeployment, writeRegistry } from "./store.js";
import { InputError } from "../core/errors.js";

export interface DeploymentRecord {
  model: string;
  version: number;
  deployment: Deployment;
}

/**
 * Records deployments of model versions in `models/registry.yaml` under `root`: appended to the
 * version's `deployments`, and a succeeded one also tags the version `deployed-<short sha>`. The
 * read-modify-write runs under the registry lock (pipeline/registry/lock.ts), so a promotion or
 * another deployment writing at the same moment is never lost. Returns the registry as written.
 */
export async function recordDeployment(root: string, ...records: DeploymentRecord[]): Promise<Registry> {
  for (const r of records) {
    const parsed = DeploymentSchema.safeParse(r.deployment);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new InputError(`deployment of ${r.model}@v${r.version}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
    }
  }
  return withRegistryLock(root, async () => {
    let registry = await readRegistry(root);
    for (const r of records) registry = addDeployment(registry, r.model, r.version, DeploymentSchema.parse(r.deployment));
    await writeRegistry(root, registry);
    return registry;
  });
}
