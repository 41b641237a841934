// A real OpenID Connect provider for AutoPMO's federation tests, standing in
// for Keycloak: panva's oidc-provider (pinned in package.json) with one
// confidential client, two accounts whose claims look like Keycloak's
// (`realm_access.roles`, `email_verified`), the provider's own development
// login and consent pages, and RS256 JWT access tokens with `aud`
// `autopmo-api` for the resource `urn:autopmo:api` (RFC 8707 resource
// indicators; the default resource), or `aud` `other-api` for `urn:other:api`.
//
//   REDIRECT_URI=http://127.0.0.1:PORT/api/v1/auth/oidc/test/callback node server.mjs
//
// Listens on a free loopback port and prints one JSON line {"issuer": …}.
import http from 'node:http';
import Provider from 'oidc-provider';

const accounts = {
  alice: { email: 'alice@example.org', email_verified: true, name: 'Alice Federated', roles: ['pmo-admin', 'offline_access'] },
  bob: { email: 'bob@example.org', email_verified: true, name: 'Bob Linked', roles: ['pmo-dev'] },
  carol: { email: 'carol@example.org', email_verified: false, name: 'Carol Unverified', roles: ['pmo-dev'] },
};
// client_credentials tokens speak for the client's service account, as Keycloak's do.
const serviceAccount = { email: 'svc-autopmo@example.org', email_verified: true, name: 'Service Account', roles: ['pmo-admin'] };

const claimsOf = (sub, a) => ({
  sub,
  email: a.email,
  email_verified: a.email_verified,
  name: a.name,
  preferred_username: sub,
  realm_access: { roles: a.roles },
});

if (!process.env.CLIENT_SECRET) {
  console.error('CLIENT_SECRET must be set (the test generates one)');
  process.exit(2);
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'autopmo',
      // Made by the test at run time; never stored.
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI ?? 'http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'client_credentials'],
      response_types: ['code'],
    }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'], roles: ['realm_access'] },
    scopes: ['openid', 'email', 'profile', 'roles', 'api'],
    async findAccount(_ctx, sub) {
      const a = accounts[sub];
      if (!a) return undefined;
      return { accountId: sub, claims: async () => claimsOf(sub, a) };
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf ?? 'urn:autopmo:api',
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: 'api',
          audience: resource === 'urn:autopmo:api' ? 'autopmo-api' : resource.replace(/^urn:(.*):api$/, '$1-api'),
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    async extraTokenClaims(_ctx, token) {
      const sub = token.accountId;
      const a = sub ? accounts[sub] : serviceAccount;
      if (!a) return undefined;
      const { sub: _ignored, ...rest } = claimsOf(sub ?? 'service-account-autopmo', a);
      return sub ? rest : { ...rest, preferred_username: 'service-account-autopmo' };
    },
    // Claims in the ID token too, as Keycloak puts them there.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    ttl: { AccessToken: 600, ClientCredentials: 600, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600, AuthorizationCode: 60 },
  });
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer }));
});
