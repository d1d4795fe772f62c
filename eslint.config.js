import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "actions/*/dist/**", "coverage/**", "models/**", "data/**", "out/**", "wasm/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ["scripts/**/*.mjs", "*.js"], languageOptions: { globals: globals.node } },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": "off",
    },
  },
  {
    files: ["pipeline/**/*.ts"],
    rules: {
      // The library is the functional core: the outside world is passed in, never imported.
      "no-restricted-imports": ["error", { patterns: [{ group: ["@actions/*"], message: "pipeline/ must not import @actions/*: pass a Reporter in." }] }],
    },
  },
);
