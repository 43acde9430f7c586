/**
 * Book names (spec/store-contract.md, section 3.2). A book name becomes a directory name, so it
 * must be safe and portable as one: 1 to 128 characters of ASCII letters, digits, `.`, `_` and
 * `-`, and not `.` or `..`. A name starting with `_` is reserved for the store.
 */
export const BOOK_NAME_PATTERN = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}$/;

export function isValidBookName(name: string): boolean {
  return BOOK_NAME_PATTERN.test(name);
}

export function isReservedBook(name: string): boolean {
  return name.startsWith('_');
}

/** The key under which case conflicts are detected: the name with ASCII letters lower-cased. */
export function bookCaseKey(name: string): string {
  // Valid names are ASCII, so toLowerCase only touches A-Z.
  return name.toLowerCase();
}
