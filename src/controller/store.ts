/**
 * A controller's view of objects: fed by its informer and by its own writes, keeping the newer
 * of the two by resourceVersion, so a sync right after a write never decides from the state
 * before it (the informer's event for the write may not have arrived yet).
 */
interface Versioned {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** resourceVersions are opaque to clients; ours and etcd's are integers, so compare those. */
function newer(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return true;
  return BigInt(a) >= BigInt(b);
}

export class ObjectStore<T extends Versioned> {
  private readonly objects = new Map<string, T>();

  private static key(o: Versioned): string {
    return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  }

  /** Keeps `obj` unless the store already holds a newer version of it. */
  upsert(obj: T): void {
    const key = ObjectStore.key(obj);
    const have = this.objects.get(key);
    if (!have || newer(obj.metadata?.resourceVersion, have.metadata?.resourceVersion)) this.objects.set(key, obj);
  }

  remove(obj: Versioned): void {
    this.objects.delete(ObjectStore.key(obj));
  }

  get(name: string, namespace = ''): T | undefined {
    return this.objects.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.objects.values()];
  }
}
