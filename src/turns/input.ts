import type { NewEvent } from '../events/append.js';
import type { MessageInput } from '../messages/store.js';
import type { TurnState, TurnUsage } from './view.js';

/** The parts of a turn, in the order they are applied (and named in a refusal's `part`). */
export type TurnPart = 'state' | 'events' | 'messages' | 'complete_claims' | 'attachments' | 'usage' | 'release_lease';

/** A turn as the route has checked it: events and messages already serialised and size-checked. */
export interface TurnInput {
  turn_id: string;
  base_version?: number;
  state?: TurnState;
  events: NewEvent[];
  messages: MessageInput[];
  complete_claims: string[];
  attachments: string[];
  usage: TurnUsage[];
  release_lease: boolean;
  /** Digest of the body as sent (canonical key order): a retry must send the same turn. */
  hash: string;
}
