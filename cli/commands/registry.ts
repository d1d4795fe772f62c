import type { Command } from "commander";

/** `pipeline registry`: thin shell over the library step. */
export function register(_program: Command): void {
  // Registered by the step's implementation.
}
