// Files imported `with { type: "text" }` so the compiled binary carries them.
declare module "*.yaml" {
  const text: string;
  export default text;
}

declare module "*.sql" {
  const text: string;
  export default text;
}
