import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../debian-mirror.test.sh', import.meta.url));

it("setup's backports source reuses the Debian mirror apt is configured with", async () => {
  // The script checks debian_mirror against sources files in temporary folders only.
  const { stdout } = await promisify(execFile)('bash', [script]);
  expect(stdout).not.toMatch(/^FAIL/m);
  expect(stdout.match(/^ok /gm)?.length).toBeGreaterThanOrEqual(5);
});
