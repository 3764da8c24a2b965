/**
 * The `cosign` program: its commands, each loaded on first use.
 * @module
 */

import type { Program } from "./run.ts";
import { GLOBAL_FLAGS } from "./command.ts";

/** The cosign command table. */
export const cosignProgram: Program = {
  name: "cosign",
  summary: "cosign (Deno): sign and verify blobs, images and attestations.",
  groups: {
    attach: "Provides utilities for attaching artifacts to other artifacts in a registry.",
    download: "Provides utilities for downloading artifacts and attached artifacts in a registry.",
    upload: "Provides utilities for uploading artifacts to a registry.",
    "trusted-root": "Provides utilities for Sigstore trusted roots.",
    "signing-config": "Provides utilities for Sigstore signing configs.",
  },
  globalFlags: GLOBAL_FLAGS,
  commands: {
    "generate-key-pair": {
      summary: "Generate an encrypted ECDSA P-256 key pair",
      load: async () => (await import("./keys.ts")).generateKeyPairCommand,
    },
    "import-key-pair": {
      summary: "Import a PEM private key as a cosign key pair",
      load: async () => (await import("./keys.ts")).importKeyPairCommand,
    },
    "public-key": {
      summary: "Print the public key of a private key",
      load: async () => (await import("./keys.ts")).publicKeyCommand,
    },
    "sign-blob": {
      summary: "Sign a file",
      load: async () => (await import("./blob.ts")).signBlobCommand,
    },
    "verify-blob": {
      summary: "Verify a file's signature",
      load: async () => (await import("./blob.ts")).verifyBlobCommand,
    },
    sign: {
      summary: "Sign container images",
      load: async () => (await import("./sign.ts")).signCommand,
    },
    verify: {
      summary: "Verify container image signatures",
      load: async () => (await import("./verify.ts")).verifyCommand,
    },
    "attach signature": {
      summary: "Attach a signature made elsewhere to an image",
      load: async () => (await import("./attach.ts")).attachSignatureCommand,
    },
    "download signature": {
      summary: "Print an image's signatures as JSON lines",
      load: async () => (await import("./attach.ts")).downloadSignatureCommand,
    },
    attest: {
      summary: "Attest an image (in-toto statement in a DSSE envelope)",
      load: async () => (await import("./attest.ts")).attestCommand,
    },
    "verify-attestation": {
      summary: "Verify an image's attestations",
      load: async () => (await import("./attest.ts")).verifyAttestationCommand,
    },
    "attest-blob": {
      summary: "Attest a file",
      load: async () => (await import("./attest.ts")).attestBlobCommand,
    },
    "verify-blob-attestation": {
      summary: "Verify a file's attestation",
      load: async () => (await import("./attest.ts")).verifyBlobAttestationCommand,
    },
    "attach attestation": {
      summary: "Attach DSSE attestations made elsewhere to an image",
      load: async () => (await import("./attach.ts")).attachAttestationCommand,
    },
    "download attestation": {
      summary: "Print an image's attestations",
      load: async () => (await import("./attach.ts")).downloadAttestationCommand,
    },
    "attach sbom": {
      summary: "Attach an SBOM to an image",
      load: async () => (await import("./attach.ts")).attachSbomCommand,
    },
    "download sbom": {
      summary: "Print an image's SBOM",
      load: async () => (await import("./attach.ts")).downloadSbomCommand,
    },
    copy: {
      summary: "Copy an image with its signatures and attestations",
      load: async () => (await import("./manage.ts")).copyCommand,
    },
    save: {
      summary: "Save an image with its signatures to an OCI layout",
      load: async () => (await import("./manage.ts")).saveCommand,
    },
    load: {
      summary: "Push an image saved by cosign save",
      load: async () => (await import("./manage.ts")).loadCommand,
    },
    clean: {
      summary: "Remove an image's signatures, attestations and SBOM",
      load: async () => (await import("./manage.ts")).cleanCommand,
    },
    tree: {
      summary: "Show an image's signatures, attestations and SBOMs",
      load: async () => (await import("./manage.ts")).treeCommand,
    },
    "upload blob": {
      summary: "Upload files to a registry as an image",
      load: async () => (await import("./upload.ts")).uploadBlobCommand,
    },
    "upload wasm": {
      summary: "Upload a WebAssembly module to a registry",
      load: async () => (await import("./upload.ts")).uploadWasmCommand,
    },
    triangulate: {
      summary: "Print where an image's signatures, attestations or SBOM are stored",
      load: async () => (await import("./image_info.ts")).triangulateCommand,
    },
    generate: {
      summary: "Print the payload cosign signs for an image",
      load: async () => (await import("./image_info.ts")).generateCommand,
    },
    login: {
      summary: "Store registry credentials in docker's config.json",
      load: async () => (await import("./login.ts")).loginCommand,
    },
    initialize: {
      summary: "Initialize the TUF trust material cache",
      load: async () => (await import("./initialize.ts")).initializeCommand,
    },
    "trusted-root create": {
      summary: "Create a Sigstore protobuf trusted root",
      load: async () => (await import("./trusted_root_create.ts")).trustedRootCreateCommand,
    },
    "signing-config create": {
      summary: "Create a Sigstore protobuf signing config",
      load: async () => (await import("./signing_config_create.ts")).signingConfigCreateCommand,
    },
    env: {
      summary: "Print the environment variables cosign reads",
      load: async () => (await import("./env.ts")).envCommand,
    },
    completion: {
      summary: "Print a shell completion script (bash, zsh or fish)",
      load: async () => (await import("./completion.ts")).completionCommand,
    },
    version: {
      summary: "Print the version",
      load: async () => (await import("./version.ts")).versionCommand,
    },
  },
};
