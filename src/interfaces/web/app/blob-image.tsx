// An image from blob storage: fetched with the API key (an <img src> cannot send it) and shown from a blob: URL.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';

/**
 * Object URLs of blobs, shared by every component showing the same blob and kept after the last one goes, most recent
 * last, so a history tile scrolled away and back shows its image without fetching it again. Entries in use are never
 * evicted; a fetch nobody waits for any more is stopped.
 */
interface CachedBlob {
  url: Promise<string>;
  users: number;
  settled: boolean;
  stop: AbortController;
}
const cachedBlobs = new Map<string, CachedBlob>();
/** Object URLs kept unused; each holds its image's bytes in the page's memory. */
const keptBlobs = 240;

function acquireBlobUrl(blobKey: string): Promise<string> {
  let entry = cachedBlobs.get(blobKey);
  if (entry) cachedBlobs.delete(blobKey);
  else {
    const stop = new AbortController();
    const url = api.blob(blobKey, stop.signal).then((blob) => URL.createObjectURL(blob));
    const created: CachedBlob = { url, users: 0, settled: false, stop };
    url.then(
      () => (created.settled = true),
      () => cachedBlobs.get(blobKey) === created && cachedBlobs.delete(blobKey),
    );
    entry = created;
  }
  cachedBlobs.set(blobKey, entry);
  entry.users += 1;
  return entry.url;
}

function releaseBlobUrl(blobKey: string): void {
  const entry = cachedBlobs.get(blobKey);
  if (!entry) return;
  entry.users -= 1;
  if (entry.users === 0 && !entry.settled) {
    entry.stop.abort();
    cachedBlobs.delete(blobKey);
  }
  for (const [key, cached] of cachedBlobs) {
    if (cachedBlobs.size <= keptBlobs) break;
    if (cached.users > 0) continue;
    cachedBlobs.delete(key);
    void cached.url.then(URL.revokeObjectURL, () => undefined);
  }
}

/** The object URL of a blob's bytes while the component is shown; undefined until they arrive, and without a key. */
export function useBlobUrl(blobKey: string | undefined): { url?: string; error?: string } {
  const [state, setState] = useState<{ url?: string; error?: string }>({});
  useEffect(() => {
    setState({});
    if (!blobKey) return;
    let shown = true;
    acquireBlobUrl(blobKey).then(
      (url) => shown && setState({ url }),
      (error: unknown) => shown && (error as Error).name !== 'AbortError' && setState({ error: (error as Error).message }),
    );
    return () => {
      shown = false;
      releaseBlobUrl(blobKey);
    };
  }, [blobKey]);
  return state;
}

/**
 * Fetches its bytes only once it comes near the viewport, so a history of thousands of tiles asks
 * for the few on screen, not for all of them.
 */
export function BlobImage({ blobKey, alt, width, height, class: className }: { blobKey: string; alt: string; width: number; height: number; class?: string }) {
  const placeholder = useRef<HTMLSpanElement>(null);
  const [near, setNear] = useState(false);
  useEffect(() => {
    const element = placeholder.current;
    if (near || !element) return;
    const observer = new IntersectionObserver((entries) => entries.some((entry) => entry.isIntersecting) && setNear(true), { rootMargin: '300px' });
    observer.observe(element);
    return () => observer.disconnect();
  }, [near]);
  const { url, error } = useBlobUrl(near ? blobKey : undefined);
  if (error) return <span class="image-error">{`Image unavailable: ${error}`}</span>;
  // The size is known from the record, so the layout does not jump when the bytes arrive.
  return url ? <img class={className} src={url} alt={alt} width={width} height={height} /> : <span ref={placeholder} class={`image-loading ${className ?? ''}`} role="img" aria-label={`${alt} (loading)`} />;
}
