// GET /api/me: the signed-in user, from the identity header (no call to Auth).
import { identityFrom } from '@/lib/identity';

export const dynamic = 'force-dynamic';

export async function GET(request: Request) {
  const user = await identityFrom(request.headers);
  if (!user) {
    return Response.json({ error: 'not_signed_in' }, { status: 401 });
  }
  return Response.json({ user });
}
