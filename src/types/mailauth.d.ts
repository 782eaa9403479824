/** The parts of mailauth 4.x (CommonJS, no bundled types) the portal uses: DKIM verification, and signing in tests. */

declare module 'mailauth/lib/dkim/verify.js' {
  /** Answers a DNS question the way `dns.promises.resolve(name, 'TXT')` does; throw an error with a `code` to fail it. */
  export type DkimResolver = (name: string, type: string) => Promise<string[][]>;

  export interface DkimResult {
    /** sha256 of the signature value (b=). */
    id: string;
    signingDomain: string;
    selector: string;
    algo?: string;
    format?: string;
    signingHeaders: { keys: string; headers: string[]; canonicalizedHeader: string };
    status: { result: 'pass' | 'fail' | 'neutral' | 'temperror' | 'permerror' | 'policy' | 'none'; comment?: string };
    canonBodyLengthLimited?: boolean;
  }

  export interface DkimVerifyResult {
    headerFrom: string[];
    envelopeFrom: string | false;
    results: DkimResult[];
    /** Not enumerable: the message's header fields in order, `key` lower-cased. */
    headers?: { parsed: Array<{ key: string; casedKey?: string; line: Buffer }> };
  }

  export function dkimVerify(input: Buffer | string, options?: { resolver?: DkimResolver; minBitLength?: number; curTime?: Date; sender?: string }): Promise<DkimVerifyResult>;
}

declare module 'mailauth/lib/dkim/sign.js' {
  export function dkimSign(
    input: Buffer | string,
    options: {
      canonicalization?: string;
      algorithm?: string;
      /** Colon-separated field names to sign (an array is ignored: the default list is used). */
      headerList?: string;
      signTime?: Date;
      expires?: Date;
      signatureData: Array<{ signingDomain: string; selector: string; privateKey: string | Buffer; algorithm?: string; canonicalization?: string; maxBodyLength?: number }>;
    },
  ): Promise<{ signatures: string; errors: unknown[] }>;
}
