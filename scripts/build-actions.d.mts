import type { BuildOptions } from "esbuild";
/** The esbuild options every action bundle is built with (tests bundle the same way). */
export declare const BUNDLE_OPTIONS: BuildOptions;
export declare function actionSteps(root?: string): Promise<{ name: string; entry: string }[]>;
export declare function buildBundles(root?: string, outRoot?: string): Promise<string[]>;
