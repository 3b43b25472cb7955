/** The shadow DOM stylesheet of <mqttcast-player>: small, self-contained, themable through ::part(). */
export const PLAYER_ELEMENT_CSS = `
:host {
  display: block;
  position: relative;
  aspect-ratio: 16 / 9;
  min-width: 160px;
  background: #000;
  color: #e6edf3;
  font: 14px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
  overflow: hidden;
  contain: content;
}
:host([hidden]) { display: none; }
.frame { position: absolute; inset: 0; }
video, canvas, ::slotted(video), ::slotted(canvas) { display: block; width: 100%; height: 100%; background: #000; object-fit: contain; }
.poster { position: absolute; inset: 0; display: none; width: 100%; height: 100%; object-fit: contain; background: #000; pointer-events: none; }
.frame[data-poster='shown'] .poster { display: block; }
.frame[data-engine='mse'] slot[name='canvas'], .frame[data-engine='webcodecs'] slot[name='video'] { display: none; }
button {
  font: inherit; color: #fff; cursor: pointer;
  border: 1px solid rgb(255 255 255 / 0.35); border-radius: 6px;
  background: rgb(0 0 0 / 0.6); padding: 4px 10px;
}
button:focus-visible { outline: 3px solid #f0b429; outline-offset: 2px; }
.sound { display: none; position: absolute; left: 8px; top: 8px; font-size: 0.85rem; }
:host([controls]) .frame[data-engine='webcodecs']:not([data-state='idle']) .sound { display: block; }
.play {
  display: none; position: absolute; left: 50%; top: 50%; transform: translate(-50%, -50%);
  width: 64px; height: 64px; border-radius: 50%; font-size: 26px; padding: 0;
}
:host([controls]) .frame:is([data-state='idle'], [data-state='ended'], [data-state='error'], [data-state='paused']) .play { display: block; }
.overlay {
  position: absolute; inset: 0; display: none; flex-direction: column; gap: 10px;
  align-items: center; justify-content: center; pointer-events: none; color: #9aa5b1; text-align: center; padding: 0 12px;
}
.frame[data-poster='shown'] .overlay { color: #fff; text-shadow: 0 1px 3px #000; }
.frame:is([data-state='connecting'], [data-state='describing'], [data-state='starting'], [data-state='recovering'], [data-state='reconnecting'], [data-state='paused']) .overlay { display: flex; }
.spinner {
  width: 32px; height: 32px; border-radius: 50%;
  border: 3px solid rgb(255 255 255 / 0.2); border-top-color: #fff; animation: spin 0.9s linear infinite;
}
.frame[data-state='paused'] .spinner { display: none; }
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .spinner { animation: none; } }
.error {
  position: absolute; left: 8px; right: 8px; bottom: 8px; padding: 8px 10px; border-radius: 6px;
  background: rgb(40 10 10 / 0.88); border-left: 4px solid #f85149; overflow-wrap: anywhere;
}
.error:empty { display: none; }
.error .detail { display: block; margin-top: 2px; color: #c9d1d9; font-size: 0.85em; }
.stats {
  position: absolute; right: 8px; top: 8px; padding: 4px 8px; border-radius: 6px;
  background: rgb(13 17 23 / 0.75); font: 12px/1.45 ui-monospace, Menlo, Consolas, monospace;
  pointer-events: none; white-space: nowrap;
}
.stats[hidden] { display: none; }
`;
