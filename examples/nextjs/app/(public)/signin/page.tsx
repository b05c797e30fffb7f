import { Suspense } from 'react';
import { SignInForm } from '@/components/SignInForm';

export default function SignIn() {
  return (
    <>
      <h1>Sign in</h1>
      <Suspense>
        <SignInForm />
      </Suspense>
    </>
  );
}
