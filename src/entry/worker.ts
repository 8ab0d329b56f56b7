// A worker thread's entry in the shipped bundle (see ./main.ts).
import '../worker/main.js';
