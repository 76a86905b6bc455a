import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideOsImageURL, type ConfigMapLike } from './osimageurl.js';
import { IMAGE_A, IMAGE_B } from './testing.js';

const cm = (data: Record<string, string>): ConfigMapLike => ({ metadata: { name: 'machine-config-osimageurl', namespace: 'openshift-machine-config-operator' }, data });

const cases: { name: string; configMap: ConfigMapLike | undefined; expected: ReturnType<typeof decideOsImageURL> }[] = [
  { name: 'matching versions and a new digest: accepted', configMap: cm({ releaseVersion: '4.6.8', osImageURL: IMAGE_B }), expected: { accept: true, osImageURL: IMAGE_B, osContentURL: '', changed: true } },
  { name: 'the same digest again: accepted, nothing changed', configMap: cm({ releaseVersion: '4.6.8', osImageURL: IMAGE_A }), expected: { accept: true, osImageURL: IMAGE_A, osContentURL: '', changed: false } },
  {
    name: 'an OS content cache named: accepted with it',
    configMap: cm({ releaseVersion: '4.6.8', osImageURL: IMAGE_B, osContentURL: 'http://10.0.0.5:8090' }),
    expected: { accept: true, osImageURL: IMAGE_B, osContentURL: 'http://10.0.0.5:8090', changed: true },
  },
  {
    name: 'an OS content cache that is not an http(s) URL: refused naming the field',
    configMap: cm({ releaseVersion: '4.6.8', osImageURL: IMAGE_B, osContentURL: '10.0.0.5:8090' }),
    expected: {
      accept: false,
      field: 'data.osContentURL',
      message: 'ConfigMap openshift-machine-config-operator/machine-config-osimageurl: data.osContentURL "10.0.0.5:8090" is not an http(s) URL (e.g. http://os-content.example:8090)',
      osImageURL: IMAGE_A,
    },
  },
  {
    name: 'a version mismatch: refused with the real message, the last accepted kept',
    configMap: cm({ releaseVersion: '4.6.13', osImageURL: IMAGE_B }),
    expected: { accept: false, field: 'data.releaseVersion', message: 'refusing to read osImageURL version "4.6.13", operator version "4.6.8"', osImageURL: IMAGE_A },
  },
  {
    name: 'no osImageURL: refused naming the ConfigMap and field',
    configMap: cm({ releaseVersion: '4.6.8' }),
    expected: { accept: false, field: 'data.osImageURL', message: 'ConfigMap openshift-machine-config-operator/machine-config-osimageurl: data.osImageURL is missing', osImageURL: IMAGE_A },
  },
  {
    name: 'a tag instead of a digest: refused',
    configMap: cm({ releaseVersion: '4.6.8', osImageURL: 'quay.io/example/machine-os-content:latest' }),
    expected: {
      accept: false,
      field: 'data.osImageURL',
      message: 'ConfigMap openshift-machine-config-operator/machine-config-osimageurl: data.osImageURL "quay.io/example/machine-os-content:latest" is not a digest reference (NAME@sha256:DIGEST)',
      osImageURL: IMAGE_A,
    },
  },
  {
    name: 'no ConfigMap at all: refused, nothing forgotten',
    configMap: undefined,
    expected: { accept: false, field: '', message: 'ConfigMap openshift-machine-config-operator/machine-config-osimageurl not found', osImageURL: IMAGE_A },
  },
];

for (const c of cases) {
  test(`decideOsImageURL(): ${c.name}`, () => {
    assert.deepEqual(decideOsImageURL(c.configMap, '4.6.8', IMAGE_A), c.expected);
  });
}

test('decideOsImageURL() accepts a local registry with a port', () => {
  const d = decideOsImageURL(cm({ releaseVersion: 'v', osImageURL: `127.0.0.1:5000/machine-os-content@sha256:${'c'.repeat(64)}` }), 'v', '');
  assert.equal(d.accept, true);
});
