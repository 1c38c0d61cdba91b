// Reading the service's answers. The API answers errors as JSON ({"error": {"code", "message"}}), but
// a proxy in front of it (an ingress, a CDN, a load balancer other than ours) may answer its own HTML
// error page: say that, with the page's title, rather than a JSON parse error.

// fetch, naming `what` when no answer came (the server stopped, the connection refused or reset):
// fetch's own words ("Failed to fetch") name neither the request nor the server.
export async function fetchNamed(what, url, init = {}) {
  try {
    return await fetch(url, init);
  } catch (error) {
    throw new Error(`${what}: no answer from the server at ${location.host} (stopped?): ${error.message}`);
  }
}

// An answer that is not 2xx (or not the JSON the API sends); `status` 401 means the API key is missing
// or wrong.
export class HttpError extends Error {
  constructor(what, status, message = '') {
    super(`${what}: HTTP ${status}${message ? `: ${message}` : ''}`);
    this.status = status;
  }
}

// What a non-JSON body says, briefly: its HTML title, else its first words without markup.
function gist(text) {
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1];
  const words = (title ?? text.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim();
  return words.length > 120 ? `${words.slice(0, 117)}...` : words;
}

// The JSON payload of `response`; an HttpError naming the status and the API's error message when it
// is not 2xx, or naming who answered when the body is not JSON.
export async function readJson(what, response) {
  const text = await response.text();
  let payload;
  try {
    payload = JSON.parse(text);
  } catch {
    const type = (response.headers.get('content-type') || 'no content type').split(';')[0];
    const said = gist(text);
    throw new HttpError(what, response.status, `not an answer of the API (${type}${said ? `: "${said}"` : ''})`);
  }
  if (!response.ok) throw new HttpError(what, response.status, payload?.error?.message ?? '');
  return payload;
}
