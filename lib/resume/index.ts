// Resume as one layer (docs/architecture.md): the app talks to a ResumeLayer, a connection to its ResumeSession.
export { NO_SESSION, noResume, resumeLayer, type ResumeLayer, type ResumeSession } from './layer'
export { Sessions, type Claim, type ResumeOptions, type SessionsHost } from './sessions'
export { Session, type SessionLimits } from './session'
