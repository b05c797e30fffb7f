// Pages for everyone; their header is the signed-out one.
import Link from 'next/link';
import type { ReactNode } from 'react';

export default function PublicLayout({ children }: { children: ReactNode }) {
  return (
    <>
      <header data-variant="public">
        <Link href="/">Home</Link>
        <Link href="/dashboard">Dashboard</Link>
        <span className="who">
          <Link href="/signin">Sign in</Link> · <Link href="/signup">Sign up</Link>
        </span>
      </header>
      <main>{children}</main>
    </>
  );
}
