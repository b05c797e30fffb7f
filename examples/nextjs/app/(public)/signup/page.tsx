import { SignUpForm } from '@/components/SignUpForm';

export default function SignUp() {
  return (
    <>
      <h1>Create an account</h1>
      <SignUpForm />
    </>
  );
}
