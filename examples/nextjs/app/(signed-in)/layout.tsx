// Pages a signed-in visitor sees: proxy.ts sends signed-out visitors to
// /signin, so this header can be the signed-in one from the first byte.
import Link from 'next/link';
import type { ReactNode } from 'react';
import { SignOutButton } from '@/components/SignOutButton';

export default function SignedInLayout({ children }: { children: ReactNode }) {
  return (
    <>
      <header data-variant="signed-in">
        <Link href="/">Home</Link>
        <Link href="/dashboard">Dashboard</Link>
        <Link href="/profile">Profile</Link>
        <Link href="/account">Sessions</Link>
        <Link href="/realtime">Realtime</Link>
        <span className="who">
          <SignOutButton />
        </span>
      </header>
      <main>{children}</main>
    </>
  );
}
