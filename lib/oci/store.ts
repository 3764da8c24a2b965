/**
 * The interface shared by a remote registry and an OCI image layout on disk, so that copy,
 * save, load and offline verification work against either.
 * @module
 */

import type { Reference, Repository } from "./reference.ts";
import type { Descriptor, FetchBlobOptions, Manifest } from "./registry.ts";

/** Where images, manifests and blobs are read from and written to. */
export interface ImageStore {
  /** Fetches a manifest or index by tag or digest (digest of the exact bytes, checked). */
  getManifest(ref: Reference): Promise<Manifest>;
  /** Stores a manifest under a tag or its digest; returns its digest. */
  putManifest(ref: Reference, bytes: Uint8Array, mediaType: string): Promise<string>;
  /** True when the blob is present (and, when `size` is given and known, of that size). */
  blobExists(repo: Repository, digest: string, size?: number): Promise<boolean>;
  /** Stores an in-memory blob. */
  uploadBlob(repo: Repository, data: Uint8Array): Promise<Descriptor>;
  /** Stores a file as a blob in constant memory. */
  uploadBlobFile(repo: Repository, path: string): Promise<Descriptor>;
  /** Stores a stream whose digest is known, refusing it when the bytes do not match. */
  uploadBlobStream(
    repo: Repository,
    stream: ReadableStream<Uint8Array>,
    expected: { digest: string; size?: number },
  ): Promise<Descriptor>;
  /**
   * Streams a blob, verifying its digest (and size) while reading; with `options.maxBytes`, a
   * blob larger than that is refused (`BLOB_TOO_LARGE`), before reading when its size is known.
   */
  fetchBlob(
    repo: Repository,
    digest: string,
    size?: number,
    options?: FetchBlobOptions,
  ): Promise<ReadableStream<Uint8Array>>;
  /** Lists tags. */
  listTags(repo: Repository): Promise<string[]>;
}
