// An image from blob storage: fetched with the API key (an <img src> cannot send it) and shown from a blob: URL.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';

/** The object URL of a blob's bytes while the component is shown; undefined until they arrive, and without a key. */
export function useBlobUrl(blobKey: string | undefined): { url?: string; error?: string } {
  const [state, setState] = useState<{ url?: string; error?: string }>({});
  useEffect(() => {
    setState({});
    if (!blobKey) return;
    const stop = new AbortController();
    let url: string | undefined;
    api
      .blob(blobKey, stop.signal)
      .then((blob) => {
        url = URL.createObjectURL(blob);
        setState({ url });
      })
      .catch((error: unknown) => {
        if (!stop.signal.aborted) setState({ error: (error as Error).message });
      });
    return () => {
      stop.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [blobKey]);
  return state;
}

export function BlobImage({ blobKey, alt, width, height, class: className }: { blobKey: string; alt: string; width: number; height: number; class?: string }) {
  const { url, error } = useBlobUrl(blobKey);
  if (error) return <span class="image-error">{`Image unavailable: ${error}`}</span>;
  // The size is known from the record, so the layout does not jump when the bytes arrive.
  return url ? <img class={className} src={url} alt={alt} width={width} height={height} /> : <span class={`image-loading ${className ?? ''}`} role="img" aria-label={`${alt} (loading)`} />;
}
