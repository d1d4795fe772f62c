import { z } from "zod";
import { writeFileAtomic } from "../core/atomic.js";

/**
 * `pipeline train --export-split FILE`: which rows of the data file trained the model and which
 * scored it, so anyone can refit or re-score on exactly the same rows (and check that no group
 * crosses the split). Row numbers count data rows from 0 (the line after the header is row 0);
 * rows without a label are in neither list. `train` is after drop_duplicates, when configured.
 */
export const SplitExportSchema = z
  .object({
    version: z.literal(1),
    data: z.object({ path: z.string(), sha256: z.string(), rows: z.number().int().nonnegative() }).strict(),
    split: z
      .object({ method: z.string(), test_share: z.number(), seed: z.number().int(), grouped_by: z.string().nullable() })
      .strict(),
    train: z.array(z.number().int().nonnegative()),
    test: z.array(z.number().int().nonnegative()),
  })
  .strict();
export type SplitExport = z.infer<typeof SplitExportSchema>;

export async function writeSplitExport(file: string, body: Omit<SplitExport, "version">): Promise<void> {
  const value: SplitExport = { version: 1, ...body };
  // One row number per line would be long; a compact array per side keeps 100k rows under 1 MB.
  await writeFileAtomic(file, JSON.stringify(value) + "\n");
}
