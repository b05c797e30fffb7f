// Who the visitor is, from the proxy: every request that sb-cookie-proxy
// passes to the app (PROXY_APP_URL) carries `X-Supabase-Identity`, an ES256
// JWT the proxy signed for this request (valid for at most 60 s), or no
// such header for a visitor without a session. The proxy removes any copy
// the browser sent, so a header that verifies is the proxy's word.
//
// Verified with `jose` against the proxy's JWKS
// (`<proxy>/edge/v1/.well-known/jwks.json`), fetched once and cached by
// `createRemoteJWKSet` (fetched again only for a `kid` it has not seen, at
// most every 30 s). No call to Auth or to the proxy per request.
//
// Settings (read at run time, so one build serves every deployment):
//   PROXY_PUBLIC_URL    the proxy's public URL (its PROXY_PUBLIC_URL): the `iss`
//   PROXY_INTERNAL_URL  where this server reaches the proxy for the JWKS, when
//                       the public URL does not resolve from here (default:
//                       PROXY_PUBLIC_URL)

import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';

/** The request header the proxy puts the identity in. */
export const IDENTITY_HEADER = 'x-supabase-identity';

/** What the proxy says about the signed-in user (the JWT's claims). */
export interface Identity {
  /** The user's id (`auth.users.id`). */
  sub: string;
  email: string | null;
  phone: string | null;
  /** The database role requests of this user run as (`authenticated`). */
  role: string;
  /** `aal1`, or `aal2` after an MFA verification. */
  aal: string;
  is_anonymous: boolean;
  app_metadata: Record<string, unknown> | null;
  /** The proxy session's public id (the one `/edge/v1/sessions` lists). */
  sid: string;
  /** Auth's session id. */
  session_id: string | null;
  iat: number;
  exp: number;
}

const MAX_AGE_SECONDS = 60;

interface Verifier {
  jwks: JWTVerifyGetKey;
  issuers: string[];
}

let verifier: Verifier | undefined;

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The JWKS and the accepted issuer, made once per process. */
function getVerifier(): Verifier {
  if (verifier) return verifier;
  const publicUrl = process.env.PROXY_PUBLIC_URL;
  if (!publicUrl) {
    throw new Error('PROXY_PUBLIC_URL is not set: it must be the proxy\'s public URL (its PROXY_PUBLIC_URL)');
  }
  const reach = withoutTrailingSlash(process.env.PROXY_INTERNAL_URL || publicUrl);
  const issuer = withoutTrailingSlash(publicUrl);
  verifier = {
    jwks: createRemoteJWKSet(new URL(`${reach}/edge/v1/.well-known/jwks.json`)),
    // The same URL, written with or without its trailing slash.
    issuers: [issuer, `${issuer}/`],
  };
  return verifier;
}

/**
 * The identity in `token` (the header's value), or null when there is none
 * or it does not verify (wrong key, algorithm or issuer, expired, older than
 * 60 s, claims missing). A visitor whose identity cannot be checked is
 * treated as signed out: pages fail closed.
 */
export async function verifyIdentity(token: string | null | undefined): Promise<Identity | null> {
  if (!token) return null;
  const { jwks, issuers } = getVerifier();
  try {
    const { payload } = await jwtVerify(token, jwks, {
      algorithms: ['ES256'],
      issuer: issuers,
      maxTokenAge: MAX_AGE_SECONDS,
      requiredClaims: ['sub', 'iat', 'exp', 'sid'],
    });
    return payload as unknown as Identity;
  } catch (error) {
    console.warn(`${IDENTITY_HEADER} refused: ${(error as Error).message}`);
    return null;
  }
}

/** The identity a request carries (`request.headers`, or `await headers()` in a page). */
export async function identityFrom(headers: Headers): Promise<Identity | null> {
  return verifyIdentity(headers.get(IDENTITY_HEADER));
}
