/**
 * What happens to a value that breaks the schema, told the same way by every step (validate-data,
 * train), because it is what the reader does (pipeline/data/csv-columns.ts): a number or date
 * outside its configured range is kept as read; a value that cannot be read as its type (text in a
 * number column, an impossible date) or a category outside a closed list becomes missing, and is
 * then imputed like any other missing value.
 */
export const SCHEMA_VIOLATION_POLICY =
  "out-of-range numbers and dates are kept as read; unreadable values and unknown categories become missing (and are imputed in training)";
