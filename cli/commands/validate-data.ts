import type { Command } from "commander";

/** `pipeline validate-data`: thin shell over the library step. */
export function register(_program: Command): void {
  // Registered by the step's implementation.
}
