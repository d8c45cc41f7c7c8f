// The desktop-app flow through a client generated from Tessera's public spec:
// types by openapi-typescript, requests by openapi-fetch.
//
//   npm ci && npm run generate && npm run check
//   npx tsx flow.ts http://127.0.0.1:8080 LICENSE-KEY
//
// Every answer's `Tessera-Signature` is verified over the exact body bytes with
// the key of its `kid` from the server's JWKS, and every nonce must come back.
// Prints what each step answered as JSON.

import { createPublicKey, verify, type JsonWebKey } from "node:crypto";
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/public.js";

type ErrorCode = components["schemas"]["ErrorCode"];
type Verdict = components["schemas"]["ValidationVerdict"];

const [baseUrl, licenseKey] = process.argv.slice(2);
if (!baseUrl || !licenseKey) throw new Error("usage: flow.ts BASE_URL LICENSE_KEY");

const jwks = (await (await fetch(`${baseUrl}/.well-known/jwks.json`)).json()) as { keys: (JsonWebKey & { kid: string })[] };
const signedPaths = ["/v1/activate", "/v1/validate", "/v1/heartbeat"];
let verifiedAnswers = 0;

/** Checks `kid="…", alg="EdDSA", sig="…"` over the exact bytes of a signed route's answer. */
async function verifySignature(request: Request, response: Response): Promise<void> {
  if (!signedPaths.includes(new URL(request.url).pathname)) return;
  const header = response.headers.get("Tessera-Signature");
  if (!header) throw new Error(`${request.url} answered ${response.status} without Tessera-Signature`);
  const fields = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const jwk = jwks.keys.find((key) => key.kid === fields.kid);
  if (fields.alg !== "EdDSA" || !jwk) throw new Error(`unknown signing key or algorithm: ${header}`);
  const body = Buffer.from(await response.clone().arrayBuffer());
  const key = createPublicKey({ key: jwk, format: "jwk" });
  if (!verify(null, body, key, Buffer.from(fields.sig, "base64url"))) {
    throw new Error(`${request.url}: the signature does not match the body`);
  }
  verifiedAnswers += 1;
}

const client = createClient<paths>({
  baseUrl,
  fetch: async (request: Request) => {
    const response = await fetch(request);
    await verifySignature(request, response);
    return response;
  },
});

function expectNonce(step: string, sent: string, echoed: string | null | undefined): void {
  if (echoed !== sent) throw new Error(`${step}: nonce ${sent} came back as ${echoed}`);
}

/** Exhaustive: the compiler fails this file if the spec grows a verdict it does not handle. */
function mayRun(verdict: Verdict): boolean {
  switch (verdict) {
    case "VALID":
      return true;
    case "NOT_FOUND":
    case "REVOKED":
    case "SUSPENDED":
    case "EXPIRED":
    case "IDENTITY_MISMATCH":
    case "VERSION_MISMATCH":
    case "NO_MACHINE":
      return false;
    default: {
      const unhandled: never = verdict;
      throw new Error(`unknown verdict ${unhandled}`);
    }
  }
}

/** What the app tells its user for an error code it knows; the type rejects a code the server never sends. */
function advice(code: ErrorCode): string {
  switch (code) {
    case "TOO_MANY_MACHINES":
      return "deactivate another machine first";
    case "NO_MACHINE":
    case "NOT_FOUND":
      return "activate this machine again";
    case "REVOKED":
    case "SUSPENDED":
    case "EXPIRED":
      return "renew or contact the seller";
    case "RATE_LIMITED":
    case "UNAVAILABLE":
      return "try again later";
    default:
      return `error ${code}`;
  }
}

const fingerprint = "typescript-client-machine-0001";
const steps: Record<string, unknown> = {};

const activated = await client.POST("/v1/activate", {
  body: {
    license_key: licenseKey,
    fingerprint,
    platform: "linux-x86_64",
    machine_name: "typescript client",
    app_version: "1.0.0",
    nonce: "ts-activate",
  },
});
if (!activated.data) throw new Error(`activate: ${JSON.stringify(activated.error)}`);
expectNonce("activate", "ts-activate", activated.data.nonce);
steps.activate = { seats_used: activated.data.license.seats_used, features: activated.data.license.features };

const checked = await client.POST("/v1/validate", {
  body: { license_key: licenseKey, fingerprint, nonce: "ts-validate" },
});
if (!checked.data) throw new Error(`validate: ${JSON.stringify(checked.error)}`);
expectNonce("validate", "ts-validate", checked.data.nonce);
steps.validate = { code: checked.data.code, may_run: mayRun(checked.data.code) };

const renewed = await client.POST("/v1/heartbeat", {
  body: { lease: activated.data.lease, fingerprint, nonce: "ts-heartbeat" },
});
if (!renewed.data) throw new Error(`heartbeat: ${JSON.stringify(renewed.error)}`);
expectNonce("heartbeat", "ts-heartbeat", renewed.data.nonce);
steps.heartbeat = { activation_id_kept: renewed.data.activation_id === activated.data.activation_id };

const freed = await client.POST("/v1/deactivate", { body: { lease: renewed.data.lease, fingerprint } });
if (!freed.data) throw new Error(`deactivate: ${JSON.stringify(freed.error)}`);
steps.deactivate = { status: freed.data.status };

const refused = await client.POST("/v1/heartbeat", { body: { lease: renewed.data.lease, fingerprint } });
if (!refused.error) throw new Error("a deactivated lease was renewed");
steps.heartbeat_after_deactivate = { status: refused.response.status, code: refused.error.code, advice: advice(refused.error.code) };

const unknown = await client.POST("/v1/validate", { body: { license_key: "NOPE-0000-0000", nonce: "ts-unknown" } });
if (!unknown.data) throw new Error(`validate unknown: ${JSON.stringify(unknown.error)}`);
expectNonce("validate unknown", "ts-unknown", unknown.data.nonce);
steps.validate_unknown = { code: unknown.data.code, may_run: mayRun(unknown.data.code) };

steps.verified_signatures = verifiedAnswers;
console.log(JSON.stringify(steps));
