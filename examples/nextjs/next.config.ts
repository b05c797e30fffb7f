import type { NextConfig } from 'next';

// The app is served through sb-cookie-proxy (PROXY_APP_URL): the browser
// sees one origin for the app, Auth, REST and Realtime. Nothing to configure
// here: no rewrites to Supabase, no WebSocket forwarding.
const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
};

export default nextConfig;
