// drizzle-kit: `bunx drizzle-kit generate` writes a migration into drizzle/ after a change to server/db/schema.ts.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./server/db/schema.ts",
  out: "./drizzle",
});
