import type { Command } from "commander";

/** `pipeline validate-model`: thin shell over the library step. */
export function register(_program: Command): void {
  // Registered by the step's implementation.
}
