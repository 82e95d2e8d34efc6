// Loopback OpenID Provider for Access Portal's SSO tests (node >= 20.19, oidc-provider 9).
//
//   OP_PORT=9100 OP_CLIENT_ID=portal OP_CLIENT_SECRET=s3cret \
//   OP_REDIRECT_URIS=http://127.0.0.1:8000/sso/oidc/testop/login/callback/ \
//   OP_USERS_FILE=users.json node server.mjs [port]
//
// users.json: {"alice": {"email": "...", "name": "...", "groups": ["eng-a"], "team": "pay"}}
// It is re-read at every claims() call, so a test can change groups between sign-ins.
// Test control (loopback only):  POST /__test/mode  {"mode": "<mode>"}   GET /__test/mode
//   normal | tamper (payload edited, signature kept) | wrong_aud | wrong_iss | expired
//   | replay (serve the previous id_token again: stale nonce) | down (503 on every route)
//   | token_down (503 on /token only: the back-channel fails after the browser step)
import { readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';
import { SignJWT, importJWK, decodeJwt, decodeProtectedHeader } from 'jose';

const env = process.env;
const port = Number(process.argv[2] || env.OP_PORT || 9100);
const host = env.OP_HOST || '127.0.0.1';
const issuer = env.OP_ISSUER || `http://${host}:${port}`;
const usersFile = env.OP_USERS_FILE || new URL('./users.json', import.meta.url).pathname;
const clientId = env.OP_CLIENT_ID || 'portal';
const clientSecret = env.OP_CLIENT_SECRET || 'portal-secret-portal-secret-portal-secret';
const redirectUris = (env.OP_REDIRECT_URIS || 'http://127.0.0.1:8000/sso/oidc/testop/login/callback/')
  .split(',').map((s) => s.trim()).filter(Boolean);

// A fresh RSA key per run; kept here so the test modes can re-sign tokens with the real key.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-op-1', use: 'sig', alg: 'RS256' };
const signingKey = await importJWK(signingJwk, 'RS256');

const loadUsers = () => JSON.parse(readFileSync(usersFile, 'utf8'));
const SCOPE_CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username'],
  groups: ['groups'],
  traits: ['team', 'department'],
};

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    post_logout_redirect_uris: redirectUris.map((u) => new URL('/', u).href),
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['test-op-cookie-key-not-secret'] },
  pkce: { required: () => true },           // every client must send S256 code_challenge
  claims: SCOPE_CLAIMS,
  conformIdTokenClaims: false,              // put scope claims (groups, email...) in the ID token too
  features: {
    devInteractions: { enabled: true },    // built-in login form: input[name=login], input[name=password]
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: { IdToken: 300, AccessToken: 300, Session: 3600, Interaction: 600, Grant: 3600, DeviceCode: 600 },
  async findAccount(ctx, sub) {
    const user = loadUsers()[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        const u = loadUsers()[sub] || {};
        return { sub, preferred_username: sub, email_verified: true, ...u };
      },
    };
  },
  // First-party test client: grant every requested scope without a consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(Object.keys(SCOPE_CLAIMS).concat('offline_access').join(' '));
    await grant.save();
    return grant;
  },
};

const oidc = new Provider(issuer, configuration);
oidc.proxy = false;

let mode = 'normal';
let lastIdToken = null;

async function resign(idToken, changes) {
  const claims = { ...decodeJwt(idToken), ...changes };
  const { kid } = decodeProtectedHeader(idToken);
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(signingKey);
}

async function misbehave(idToken) {
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'tamper': {
      const [h, p, s] = idToken.split('.');
      const payload = JSON.parse(Buffer.from(p, 'base64url'));
      payload.groups = ['admins'];
      return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    }
    case 'wrong_aud': return resign(idToken, { aud: 'some-other-client' });
    case 'wrong_iss': return resign(idToken, { iss: 'http://evil.invalid' });
    case 'expired': return resign(idToken, { iat: now - 7200, exp: now - 3600 });
    case 'replay': return lastIdToken || idToken;
    default: return idToken;
  }
}

oidc.use(async (ctx, next) => {
  if (ctx.path === '/__test/mode') {
    if (ctx.method === 'POST') {
      const chunks = [];
      for await (const c of ctx.req) chunks.push(c);
      mode = JSON.parse(Buffer.concat(chunks).toString() || '{}').mode || 'normal';
    }
    ctx.body = { mode };
    return;
  }
  if (mode === 'down' || (mode === 'token_down' && ctx.path === '/token')) {
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable' };
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
    const original = ctx.body.id_token;
    ctx.body = { ...ctx.body, id_token: await misbehave(original) };
    if (mode === 'normal') lastIdToken = original;
  }
});

oidc.listen(port, host, () => {
  console.log(`oidc-provider listening on ${issuer} (client ${clientId}, redirect ${redirectUris.join(' ')})`);
});
