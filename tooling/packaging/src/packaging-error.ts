/** A package that does not pack, install or bundle as its users would get it. */
export class PackagingError extends Error {
  override name = 'PackagingError';
}
