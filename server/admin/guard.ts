// Puts the admin rules in front of /admin/*, /stats/* and /metrics before routing, so even an unknown admin path says 401.
import { Elysia } from "elysia";
import { pathnameOf } from "../http/security-headers.ts";
import { isAdminPath, type AdminAuth } from "./auth.ts";


export function adminGuard(auth: AdminAuth) {
  return new Elysia({ name: "admin.guard" }).onRequest(({ request, server }) => {
    const pathname = pathnameOf(request.url);
    if (!isAdminPath(pathname) || pathname === "/admin/login") return;
    const refusal = auth.authorize(request, server?.requestIP(request)?.address ?? null);
    if (refusal) return refusal.toResponse(crypto.randomUUID());
  });
}
