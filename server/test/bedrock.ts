import { expect } from 'vitest';
import { startTestApp, type SignedUp, type TestApp } from './harness.js';
import { startFakeSts, type FakeSts } from './sts.js';

/** The platform's own AWS credentials: the SDK's standard provider chain finds them in the environment. */
export const PLATFORM_AWS = { AWS_ACCESS_KEY_ID: 'AKIAPLATFORMTEST0001', AWS_SECRET_ACCESS_KEY: 'platform-aws-secret-key-for-tests' };

export interface BedrockApp {
  t: TestApp;
  sts: FakeSts;
  /** Closes the app and the fake STS, and puts the environment back. */
  close(): Promise<void>;
}

/** A test app whose provider routes assume roles at a fake STS (test/sts.ts) on the test clock, signed with PLATFORM_AWS. */
export async function startBedrockApp(options: Parameters<typeof startTestApp>[0] = {}): Promise<BedrockApp> {
  const savedEnv = { ...process.env };
  Object.assign(process.env, PLATFORM_AWS, { AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  let clockNow = () => new Date();
  const sts = await startFakeSts({ secrets: { [PLATFORM_AWS.AWS_ACCESS_KEY_ID]: PLATFORM_AWS.AWS_SECRET_ACCESS_KEY }, now: () => clockNow() });
  const t = await startTestApp({ ...options, patch: (file) => { file.routing.sts.endpoint = sts.url; options.patch?.(file); } });
  clockNow = () => t.clock.now();
  return {
    t, sts,
    async close() {
      await t.close();
      await sts.close();
      process.env = savedEnv;
    },
  };
}

export interface EnterpriseTenant {
  owner: SignedUp;
  tenantId: string;
  /** An API key of the tenant with `scopes` (default: decisions and credentials). */
  key: string;
  /** The tenant's external ID, the platform's, as the route list shows it. */
  externalId: string;
  /** An operator signed in now (tokens of an earlier test may have expired on the test clock). */
  operator: SignedUp;
}

/** A tenant on the enterprise plan (own providers allowed). */
export async function enterpriseTenant(t: TestApp, scopes = ['authorize', 'credentials']): Promise<EnterpriseTenant> {
  const operator = await t.operator();
  const owner = await t.signup();
  const moved = await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: operator.accessToken, payload: { plan: 'enterprise' } });
  expect(moved.statusCode, moved.body).toBe(200);
  const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'backend', scopes } })).json().key as string;
  const listed = await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/routes`, token: owner.accessToken });
  expect(listed.statusCode, listed.body).toBe(200);
  return { owner, tenantId: owner.tenantId, key, externalId: listed.json().externalId as string, operator };
}

/** The ExternalId STS gets for a route of the tenant: its own, then the one the route's PUT gave, if any. */
export function sentExternalId(tenant: { externalId: string }, given?: string): string {
  return given === undefined ? tenant.externalId : `${tenant.externalId}:${given}`;
}
