// Next 16's request gate (formerly middleware), run before every page. It
// reads the user from the proxy's signed `X-Supabase-Identity` header, with
// no call to anything:
//
// - a signed-in visitor of a page that has two statically generated
//   variants (the `(public)` and `(signed-in)` route groups) is rewritten to
//   the signed-in variant, so the first paint is already signed in (no
//   logged-out flash, no client-side check);
// - a signed-out visitor of a protected page is redirected to
//   `/signin?next=<the page>`;
// - a signed-in visitor of /signin or /signup goes on to `next`.

import { NextResponse, type NextRequest } from 'next/server';
import { identityFrom } from './lib/identity';
import { safeNext } from './lib/next-path';

/** Where the signed-in variants of two-variant pages live (never linked to). */
const SIGNED_IN_PREFIX = '/signed-in';

/** Pages with a public and a signed-in variant: the signed-in one is SIGNED_IN_PREFIX + path. */
const TWO_VARIANTS = new Set(['/']);

/** Pages only a signed-in visitor sees. */
const PROTECTED = ['/dashboard', '/profile', '/account', '/realtime'];

const SIGN_IN_PAGES = new Set(['/signin', '/signup']);

function isUnder(pathname: string, prefix: string): boolean {
  return pathname === prefix || pathname.startsWith(`${prefix}/`);
}

export async function proxy(request: NextRequest) {
  const { pathname, search } = request.nextUrl;
  const user = await identityFrom(request.headers);

  if (!user) {
    // A signed-in variant asked for by its own URL: the public page instead.
    // (Not refused for signed-in visitors: Next runs this gate again for
    // the rewritten URL.)
    if (isUnder(pathname, SIGNED_IN_PREFIX)) {
      const publicPage = request.nextUrl.clone();
      publicPage.pathname = pathname.slice(SIGNED_IN_PREFIX.length) || '/';
      return NextResponse.redirect(publicPage);
    }
    if (PROTECTED.some((p) => isUnder(pathname, p))) {
      const signin = new URL('/signin', request.url);
      signin.searchParams.set('next', pathname + search);
      return NextResponse.redirect(signin);
    }
    return NextResponse.next();
  }
  if (TWO_VARIANTS.has(pathname)) {
    const variant = request.nextUrl.clone();
    variant.pathname = SIGNED_IN_PREFIX + (pathname === '/' ? '' : pathname);
    return NextResponse.rewrite(variant);
  }
  if (SIGN_IN_PAGES.has(pathname)) {
    return NextResponse.redirect(new URL(safeNext(request.nextUrl.searchParams.get('next')), request.url));
  }
  return NextResponse.next();
}

export const config = {
  // Pages only: not Next's assets, nor the route handlers (they read the header themselves).
  matcher: ['/((?!_next/|api/|favicon.ico).*)'],
};
