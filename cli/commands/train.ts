import type { Command } from "commander";

/** `pipeline train`: thin shell over the library step. */
export function register(_program: Command): void {
  // Registered by the step's implementation.
}
