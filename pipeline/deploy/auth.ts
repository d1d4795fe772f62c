import { GoogleAuth, IdentityPoolClient } from "google-auth-library";
import { UsageError, PipelineError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import type { AccessTokenProvider } from "./cloud-run-api.js";

/**
 * Credentials for the Admin API and for calling the deployed service, in order of precedence:
 * 1. `CLOUD_RUN_ACCESS_TOKEN` (and `CLOUD_RUN_ID_TOKEN` for the service): tests, proxies, or a token
 *    minted elsewhere;
 * 2. Workload Identity Federation from GitHub Actions: the job's OIDC token is fetched in process and
 *    exchanged by google-auth-library's identity-pool client, so no credentials file is ever written
 *    into the workspace (where image builds have picked such files up, google-github-actions/auth #123);
 * 3. Application Default Credentials (gcloud auth application-default login, a metadata server).
 */
export interface GoogleCredentialsOptions {
  env: NodeJS.ProcessEnv;
  /** `projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`. */
  workloadIdentityProvider?: string;
  /** The deployer service account to impersonate (WIF), e.g. deployer@P.iam.gserviceaccount.com. */
  serviceAccount?: string;
  fetch?: typeof fetch;
  reporter?: Reporter;
  /** Endpoint overrides (tests); the defaults are Google's. */
  stsUrl?: string;
  iamCredentialsUrl?: string;
}

export interface GoogleCredentials {
  kind: "token" | "workload-identity" | "adc";
  accessToken: AccessTokenProvider;
  /** Headers that authenticate a call to the deployed service (an ID token for `audience`), or none. */
  invokerHeaders(audience: string): Promise<Record<string, string>>;
}

const SCOPE = "https://www.googleapis.com/auth/cloud-platform";
const PROVIDER_RE = /^projects\/\d+\/locations\/global\/workloadIdentityPools\/[^/]+\/providers\/[^/]+$/;

export function googleCredentials(options: GoogleCredentialsOptions): GoogleCredentials {
  const { env, reporter } = options;
  const fetchImpl = options.fetch ?? fetch;
  const fixedToken = env.CLOUD_RUN_ACCESS_TOKEN;
  if (fixedToken) {
    reporter?.secret(fixedToken);
    const idToken = env.CLOUD_RUN_ID_TOKEN;
    if (idToken) reporter?.secret(idToken);
    return {
      kind: "token",
      accessToken: async () => fixedToken,
      invokerHeaders: async (): Promise<Record<string, string>> => (idToken ? { authorization: `Bearer ${idToken}` } : {}),
    };
  }
  const provider = options.workloadIdentityProvider ?? env.GOOGLE_WORKLOAD_IDENTITY_PROVIDER;
  if (provider) {
    if (!PROVIDER_RE.test(provider)) {
      throw new UsageError(`workload identity provider "${provider}": expected projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`);
    }
    const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL;
    const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
    if (!requestUrl || !requestToken) {
      throw new UsageError("Workload Identity Federation needs the GitHub OIDC token: give the job `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN are not set)");
    }
    reporter?.secret(requestToken);
    const serviceAccount = options.serviceAccount ?? env.GOOGLE_SERVICE_ACCOUNT;
    // google-github-actions/auth uses this audience by default, so providers set up for it work here.
    const oidcAudience = `https://iam.googleapis.com/${provider}`;
    const client = new IdentityPoolClient({
      type: "external_account",
      audience: `//iam.googleapis.com/${provider}`,
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      token_url: options.stsUrl ?? "https://sts.googleapis.com/v1/token",
      ...(serviceAccount
        ? { service_account_impersonation_url: `${options.iamCredentialsUrl ?? "https://iamcredentials.googleapis.com"}/v1/projects/-/serviceAccounts/${serviceAccount}:generateAccessToken` }
        : {}),
      scopes: [SCOPE],
      subject_token_supplier: {
        getSubjectToken: async () => {
          const url = new URL(requestUrl);
          url.searchParams.set("audience", oidcAudience);
          const response = await fetchImpl(url, { headers: { authorization: `Bearer ${requestToken}`, accept: "application/json" } });
          if (!response.ok) throw new PipelineError(`GitHub OIDC token request failed: ${response.status} ${response.statusText}`, 1);
          const body = (await response.json()) as { value?: unknown };
          if (typeof body.value !== "string" || body.value === "") throw new PipelineError("GitHub OIDC token request: the answer has no token", 1);
          reporter?.secret(body.value);
          return body.value;
        },
      },
    });
    const accessToken = async () => {
      const { token } = await client.getAccessToken();
      if (!token) throw new PipelineError("Workload Identity Federation: the token exchange returned no access token", 1);
      reporter?.secret(token);
      return token;
    };
    return {
      kind: "workload-identity",
      accessToken,
      invokerHeaders: async (audience): Promise<Record<string, string>> => {
        // A federated identity cannot mint an ID token itself; the impersonated account can.
        if (!serviceAccount) return {};
        const url = `${options.iamCredentialsUrl ?? "https://iamcredentials.googleapis.com"}/v1/projects/-/serviceAccounts/${serviceAccount}:generateIdToken`;
        const response = await fetchImpl(url, {
          method: "POST",
          headers: { authorization: `Bearer ${await accessToken()}`, "content-type": "application/json" },
          body: JSON.stringify({ audience, includeEmail: true }),
        });
        if (!response.ok) throw new PipelineError(`generateIdToken for ${serviceAccount}: ${response.status} (grant it roles/iam.serviceAccountTokenCreator on itself or roles/run.invoker)`, 1);
        const { token } = (await response.json()) as { token?: string };
        if (!token) return {};
        reporter?.secret(token);
        return { authorization: `Bearer ${token}` };
      },
    };
  }
  const auth = new GoogleAuth({ scopes: [SCOPE] });
  return {
    kind: "adc",
    accessToken: async () => {
      try {
        const token = await auth.getAccessToken();
        if (!token) throw new Error("no token");
        reporter?.secret(token);
        return token;
      } catch (error) {
        throw new PipelineError(`no Google credentials: set up Workload Identity Federation (workload-identity-provider), Application Default Credentials, or CLOUD_RUN_ACCESS_TOKEN (${(error as Error).message})`, 2, { cause: error });
      }
    },
    invokerHeaders: async (audience): Promise<Record<string, string>> => {
      try {
        const client = await auth.getIdTokenClient(audience);
        const headers = await client.getRequestHeaders();
        const value = headers.get("authorization");
        if (value) reporter?.secret(value.replace(/^Bearer\s+/i, ""));
        return value ? { authorization: value } : {};
      } catch {
        // User credentials cannot mint ID tokens; a service that allows unauthenticated calls needs none.
        return {};
      }
    },
  };
}
