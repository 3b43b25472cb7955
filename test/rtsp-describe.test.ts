/**
 * The one-request RTSP DESCRIBE that replaces ffprobe for cameras: against the
 * GStreamer RTSP test source, and against small RTSP stubs on 127.0.0.1 that
 * ask for Basic or Digest credentials, redirect, or never answer (then the
 * caller falls back to ffprobe: undefined, never an exception).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerChallenge, describeRtsp } from '../media-server/ffmpeg/rtsp-describe.js';
import { parseSdp, probeFromSdp } from '../media-server/ffmpeg/sdp.js';
import { startRtspServer, type RtspServer } from './helpers/rtsp-server.js';

const SDP = 'v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n';

/** An RTSP stub: `answer` gets each request's text and returns the whole response (or nothing, to stay silent). */
async function stub(answer: (request: string) => string | undefined): Promise<{ port: number; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let buf = '';
    socket.on('data', (c) => {
      buf += c.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const req = buf.slice(0, end);
        buf = buf.slice(end + 4);
        requests.push(req);
        const res = answer(req);
        if (res !== undefined) socket.write(res);
      }
    });
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

const cseq = (req: string): string => /CSeq: (\d+)/.exec(req)?.[1] ?? '0';
const ok = (req: string, body = SDP): string => `RTSP/1.0 200 OK\r\nCSeq: ${cseq(req)}\r\nContent-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe('RTSP DESCRIBE', () => {
  let rtsp: RtspServer;
  beforeAll(async () => {
    rtsp = await startRtspServer({ width: 320, height: 240, fps: 25 });
  });
  afterAll(async () => {
    await rtsp?.close();
  });

  it('reads the GStreamer source\'s SDP: H.264 + AAC, live, as ffprobe would say', async () => {
    const sdp = await describeRtsp(rtsp.url, { timeoutMs: 10_000 });
    expect(sdp).toBeDefined();
    expect(probeFromSdp(parseSdp(sdp!))).toMatchObject({ live: true, video: { codec: 'h264' }, audio: { codec: 'aac' } });
  });

  it('answers a Digest challenge once, without the credentials in the request URI', async () => {
    const s = await stub((req) => {
      if (!req.includes('Authorization: Digest')) {
        return `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq(req)}\r\nWWW-Authenticate: Digest realm="cam", nonce="abc123"\r\n\r\n`;
      }
      const expected = answerChallenge('Digest realm="cam", nonce="abc123"', 'admin', 'p@ss word', 'DESCRIBE', `rtsp://127.0.0.1:${s.port}/live`);
      return req.includes(`Authorization: ${expected}`) ? ok(req) : `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq(req)}\r\n\r\n`;
    });
    try {
      const sdp = await describeRtsp(`rtsp://admin:p%40ss%20word@127.0.0.1:${s.port}/live`, { timeoutMs: 5000 });
      expect(sdp).toBe(SDP);
      expect(s.requests).toHaveLength(2);
      expect(s.requests[0]).toMatch(new RegExp(`^DESCRIBE rtsp://127\\.0\\.0\\.1:${s.port}/live RTSP/1\\.0`));
      expect(s.requests.join('\n')).not.toContain('p@ss');
    } finally {
      await s.close();
    }
  });

  it('answers Basic, and gives up (undefined) on a redirect, a wrong password, an error status, silence or a closed port', async () => {
    const basic = await stub((req) =>
      req.includes(`Authorization: Basic ${Buffer.from('u:p').toString('base64')}`) ? ok(req) : `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq(req)}\r\nWWW-Authenticate: Basic realm="x"\r\n\r\n`,
    );
    const redirect = await stub((req) => `RTSP/1.0 302 Moved\r\nCSeq: ${cseq(req)}\r\nLocation: rtsp://elsewhere/x\r\n\r\n`);
    const notFound = await stub((req) => `RTSP/1.0 404 Not Found\r\nCSeq: ${cseq(req)}\r\n\r\n`);
    const silent = await stub(() => undefined);
    const closed = await stub(() => undefined);
    const closedPort = closed.port;
    await closed.close();
    try {
      expect(await describeRtsp(`rtsp://u:p@127.0.0.1:${basic.port}/x`, { timeoutMs: 5000 })).toBe(SDP);
      expect(await describeRtsp(`rtsp://u:wrong@127.0.0.1:${basic.port}/x`, { timeoutMs: 5000 })).toBeUndefined();
      expect(await describeRtsp(`rtsp://127.0.0.1:${redirect.port}/x`, { timeoutMs: 5000 })).toBeUndefined();
      expect(await describeRtsp(`rtsp://127.0.0.1:${notFound.port}/x`, { timeoutMs: 5000 })).toBeUndefined();
      expect(await describeRtsp(`rtsp://127.0.0.1:${silent.port}/x`, { timeoutMs: 300 })).toBeUndefined();
      expect(await describeRtsp(`rtsp://127.0.0.1:${closedPort}/x`, { timeoutMs: 5000 })).toBeUndefined();
    } finally {
      await Promise.all([basic.close(), redirect.close(), notFound.close(), silent.close()]);
    }
  });

  it('computes RFC 2617\'s Digest example (qop=auth)', () => {
    const header = answerChallenge(
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
      'Mufasa', 'Circle Of Life', 'GET', '/dir/index.html', '0a4f113b',
    );
    expect(header).toContain('response="6629fae49393a05397450978507c4ef1"');
    expect(header).toContain('opaque="5ccc069c403ebaf9f0171e9517f40e41"');
    expect(answerChallenge('Digest realm="r", nonce="n", algorithm=SHA-256', 'u', 'p', 'DESCRIBE', 'x')).toBeUndefined();
    expect(answerChallenge('Negotiate', 'u', 'p', 'DESCRIBE', 'x')).toBeUndefined();
  });
});
