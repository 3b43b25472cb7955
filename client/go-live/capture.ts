/** Cameras and microphones: the device lists and getUserMedia with the chosen size and rate. */
import { GoLiveFailure, goLiveError } from './go-live-errors.js';

export interface DeviceChoice {
  id: string;
  label: string;
}

export interface CaptureChoice {
  /** Empty: the browser's default camera. */
  cameraId: string;
  /** Empty: the default microphone; null: no sound. */
  microphoneId: string | null;
  width: number;
  height: number;
  framerate: number;
}

function mediaDevices(): MediaDevices {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new GoLiveFailure(goLiveError('CAMERA_UNAVAILABLE', 'this page is not a secure context (https or localhost), so the browser offers no camera'));
  }
  return navigator.mediaDevices;
}

/** Cameras and microphones; labels are empty until the person has allowed the camera once. */
export async function listDevices(): Promise<{ cameras: DeviceChoice[]; microphones: DeviceChoice[] }> {
  const devices = await mediaDevices().enumerateDevices();
  const pick = (kind: MediaDeviceKind, noun: string): DeviceChoice[] =>
    devices.filter((d) => d.kind === kind && d.deviceId !== '').map((d, i) => ({ id: d.deviceId, label: d.label || `${noun} ${i + 1}` }));
  return { cameras: pick('videoinput', 'Camera'), microphones: pick('audioinput', 'Microphone') };
}

/** Opens the camera (and microphone). Rejects with CAMERA_UNAVAILABLE and the browser's reason (denied, busy, none). */
export async function openCapture(choice: CaptureChoice): Promise<MediaStream> {
  const devices = mediaDevices();
  const video: MediaTrackConstraints = {
    width: { ideal: choice.width },
    height: { ideal: choice.height },
    frameRate: { ideal: choice.framerate },
    ...(choice.cameraId ? { deviceId: { exact: choice.cameraId } } : {}),
  };
  const audio: MediaTrackConstraints | false = choice.microphoneId === null ? false : choice.microphoneId ? { deviceId: { exact: choice.microphoneId } } : {};
  try {
    return await devices.getUserMedia({ video, audio });
  } catch (err) {
    const name = err instanceof DOMException ? err.name : 'Error';
    const why = name === 'NotAllowedError' ? 'permission was denied' : name === 'NotFoundError' ? 'no such device' : name === 'NotReadableError' ? 'the device is busy' : name;
    throw new GoLiveFailure(goLiveError('CAMERA_UNAVAILABLE', `${why}: ${err instanceof Error ? err.message : String(err)}`));
  }
}

/** Stops every track of a stream (the camera light goes off). */
export function stopCapture(stream: MediaStream | undefined): void {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
