/**
 * The embeddable player, built on its own to dist/client/player.js and served at
 * `/player.js` (with CORS) so any page can add a stream with one module script:
 *
 *   <script type="module" src="http://HOST:8080/player.js"></script>
 *   <mqttcast-player source="demo" autoplay muted controls></mqttcast-player>
 *
 * Also `import 'mqttcast/player'` from npm. Importing it registers the element.
 */
import { defineMqttcastPlayer } from './player-element.js';

export { MqttcastPlayerElement, PLAYER_TAG, defineMqttcastPlayer, type ElementState, type PlayerCredentials } from './player-element.js';
export type { PlayerError, PlayerErrorCode } from './errors.js';
export type { StatsSnapshot } from './stats.js';

defineMqttcastPlayer();
