/**
 * The API server's own certificate authority and serving certificate: generated on first
 * start (ECDSA P-256, through @peculiar/x509 on Node's WebCrypto) and kept in the data
 * directory, so a kubeconfig written once stays valid across restarts. kubectl sends its
 * bearer token only over TLS, which is why the server has no plain-HTTP mode.
 */
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

export interface ServingPki {
  /** PEM of the CA certificate: the kubeconfig's certificate-authority-data. */
  caCert: string;
  cert: string;
  key: string;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const YEAR_MS = 365 * 24 * 3600 * 1000;

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, EC, true, ['sign']);
}

/** The names a client may use to reach the server: loopback always, plus the listen host. */
function subjectAltNames(host: string): x509.JsonGeneralName[] {
  const names = new Map<string, x509.JsonGeneralName>();
  for (const n of ['127.0.0.1', '::1', 'localhost', host]) {
    if (n === '' || n === '0.0.0.0' || n === '::') continue;
    names.set(n, { type: isIP(n) ? 'ip' : 'dns', value: n });
  }
  return [...names.values()];
}

/**
 * True when the certificate was issued by the current CA (a CA re-made since would leave
 * every client refusing it), goes with the key beside it, is valid for a month more and
 * names `host`.
 */
function servingCertFits(pem: string, keyPem: string, caPem: string, host: string): boolean {
  const cert = new X509Certificate(pem);
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return false;
  if (new Date(cert.validTo).getTime() < Date.now() + 30 * 24 * 3600 * 1000) return false;
  return host === '0.0.0.0' || host === '::' || (isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined);
}

/**
 * Loads the CA and serving certificate from `dir`, creating what is missing. The serving
 * certificate is re-issued by the current CA when another CA issued it, its key does not
 * match, it does not name `host` or it is about to expire.
 */
export async function ensurePki(dir: string, host: string): Promise<ServingPki> {
  const path = (f: string): string => join(dir, f);
  let caCert: string;
  let caKey: CryptoKey;
  if (fs.existsSync(path('ca.crt')) && fs.existsSync(path('ca.key'))) {
    caCert = fs.readFileSync(path('ca.crt'), 'utf8');
    caKey = await importKeyPem(fs.readFileSync(path('ca.key'), 'utf8'));
  } else {
    const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
    const ca = await x509.X509CertificateGenerator.createSelfSigned(
      {
        name: 'CN=mco-apiserver-ca',
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 10 * YEAR_MS),
        keys,
        signingAlgorithm: SIGNING,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      },
      webcrypto as Crypto,
    );
    caCert = ca.toString('pem') + '\n';
    caKey = keys.privateKey;
    fs.writeFileSync(path('ca.key'), await keyPem(caKey), { mode: 0o600 });
    fs.writeFileSync(path('ca.crt'), caCert);
  }
  if (fs.existsSync(path('apiserver.crt')) && fs.existsSync(path('apiserver.key'))) {
    const cert = fs.readFileSync(path('apiserver.crt'), 'utf8');
    const key = fs.readFileSync(path('apiserver.key'), 'utf8');
    if (servingCertFits(cert, key, caCert, host)) return { caCert, cert, key };
  }
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const serving = await x509.X509CertificateGenerator.create(
    {
      subject: 'CN=mco-apiserver',
      issuer: new x509.X509Certificate(caCert).subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + YEAR_MS),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(subjectAltNames(host)),
      ],
    },
    webcrypto as Crypto,
  );
  const cert = serving.toString('pem') + '\n';
  const key = await keyPem(keys.privateKey);
  fs.writeFileSync(path('apiserver.key'), key, { mode: 0o600 });
  fs.writeFileSync(path('apiserver.crt'), cert);
  return { caCert, cert, key };
}
